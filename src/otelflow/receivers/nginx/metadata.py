"""The nginx receiver's metrics and resource attributes, from upstream v0.148.0's metadata.yaml (v0.161.0 is not
served here) with v0.161.0's change applied: UCUM curly-brace units (v0.157.0).

Written with bench/gen_hostmetrics_metadata.py's ``scraper()``; same shape as hostmetrics' metadata.
"""

METADATA = {'metrics': {'nginx.connections_accepted': {'description': 'The total number of accepted client connections',
                                            'unit': '{connections}',
                                            'kind': 'sum',
                                            'value_type': 'int',
                                            'monotonic': True,
                                            'enabled': True,
                                            'attributes': (),
                                            'migrates_to': ''},
             'nginx.connections_current': {'description': 'The current number of nginx connections by state',
                                           'unit': '{connections}',
                                           'kind': 'sum',
                                           'value_type': 'int',
                                           'monotonic': False,
                                           'enabled': True,
                                           'attributes': (('state',
                                                           True,
                                                           ('active', 'reading', 'writing', 'waiting')),),
                                           'migrates_to': ''},
             'nginx.connections_handled': {'description': 'The total number of handled connections. '
                                                          'Generally, the parameter value is the same as '
                                                          'nginx.connections_accepted unless some resource '
                                                          'limits have been reached (for example, the '
                                                          'worker_connections limit).',
                                           'unit': '{connections}',
                                           'kind': 'sum',
                                           'value_type': 'int',
                                           'monotonic': True,
                                           'enabled': True,
                                           'attributes': (),
                                           'migrates_to': ''},
             'nginx.requests': {'description': 'Total number of requests made to the server since it started',
                                'unit': '{requests}',
                                'kind': 'sum',
                                'value_type': 'int',
                                'monotonic': True,
                                'enabled': True,
                                'attributes': (),
                                'migrates_to': ''}},
 'resource_attributes': {}}
