"""Jaeger's wire definitions: Thrift IDL (thriftpy2) and the api_v2 protobuf model."""
