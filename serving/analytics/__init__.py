"""Analytics over the core DB: reads history, calls the pure models in models/, shapes answers."""
