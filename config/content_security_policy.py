"""The Content-Security-Policy every answer carries (django-csp's CONTENT_SECURITY_POLICY)."""

# Content-Security-Policy on every answer (django-csp): the admin and the Swagger UI
# load scripts only from this origin; nothing may frame any page.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # Swagger UI and the admin set a few style attributes inline; scripts stay strict.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
