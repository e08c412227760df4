"""OTTL, the OpenTelemetry Transformation Language: one engine for every component that uses it.

``grammar`` parses statement text, ``compiler`` turns it into closures over the protobuf messages,
``contexts`` defines the paths of each context, ``funcs`` the function library.
"""
