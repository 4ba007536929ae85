"""django-prometheus' SQLite backend with its cursor class built once per connection."""
