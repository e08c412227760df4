"""The web UI's built files: ``static/`` is made by scripts/build-ui.sh from ui/ and never committed."""
