"""The dashboard at ``/dashboard``: sign-in, server-rendered pages over the usage reports, SVG charts."""
