"""Jaeger's wire definitions: the Thrift IDL (Python code in ``gen/``, made by ``generate.sh`` with
the Apache Thrift compiler) and the api_v2 protobuf model (``api_v2``, built at import time)."""
