"""proto/snakepit.proto, field by field: the table wire.py reads and writes the messages from,
and fieldkeys.py gives the frames written out by hand their keys from.

Per message, its fields in the proto's order: (name, number, type, repeated, oneof), where type
is a scalar's proto type or a message's name, and oneof names the oneof the field belongs to.

Written by python/tests/proto_descriptor.py; do not edit. test_descriptor.py fails when it no
longer matches the proto.
"""

PACKAGE = 'snakepit.v1'

MESSAGES = {
    'Value': (
        ('json', 1, 'bytes', False, None),
        ('blobs', 2, 'bytes', True, None),
    ),
    'Call': (
        ('id', 1, 'uint64', False, None),
        ('tool', 2, 'string', False, None),
        ('args', 3, 'Value', False, None),
        ('stream', 4, 'bool', False, None),
        ('args_size', 5, 'uint64', False, None),
        ('timeout_ms', 6, 'uint64', False, None),
        ('session_id', 7, 'string', False, None),
        ('window', 8, 'uint32', False, None),
    ),
    'Credit': (
        ('id', 1, 'uint64', False, None),
        ('chunks', 2, 'uint32', False, None),
    ),
    'ArgsPart': (
        ('id', 1, 'uint64', False, None),
        ('data', 2, 'bytes', False, None),
    ),
    'ClientFrame': (
        ('calls', 1, 'Call', True, None),
        ('cancels', 2, 'uint64', True, None),
        ('parts', 3, 'ArgsPart', True, None),
        ('pings', 4, 'uint64', True, None),
        ('token', 5, 'bytes', False, None),
        ('host_replies', 6, 'HostReply', True, None),
        ('credits', 7, 'Credit', True, None),
        ('reclaims', 8, 'uint64', True, None),
    ),
    'CallError': (
        ('code', 1, 'string', False, None),
        ('type', 2, 'string', False, None),
        ('message', 3, 'string', False, None),
        ('traceback', 4, 'string', False, None),
    ),
    'Reply': (
        ('id', 1, 'uint64', False, None),
        ('result', 2, 'Value', False, 'outcome'),
        ('chunk', 3, 'Value', False, 'outcome'),
        ('error', 4, 'CallError', False, 'outcome'),
        ('end', 5, 'bool', False, 'outcome'),
        ('progress', 6, 'Value', False, 'outcome'),
    ),
    'HostCall': (
        ('id', 1, 'uint64', False, None),
        ('call_id', 2, 'uint64', False, None),
        ('name', 3, 'string', False, None),
        ('args', 4, 'Value', False, None),
    ),
    'HostReply': (
        ('id', 1, 'uint64', False, None),
        ('result', 2, 'Value', False, 'outcome'),
        ('error', 3, 'CallError', False, 'outcome'),
    ),
    'ServerFrame': (
        ('replies', 1, 'Reply', True, None),
        ('pongs', 2, 'HeartbeatReply', True, None),
        ('host_calls', 3, 'HostCall', True, None),
        ('draining', 4, 'bool', False, None),
    ),
    'HeartbeatRequest': (
        ('seq', 1, 'uint64', False, None),
    ),
    'HeartbeatReply': (
        ('seq', 1, 'uint64', False, None),
        ('pid', 2, 'uint32', False, None),
        ('in_flight', 3, 'uint32', False, None),
        ('gil_enabled', 4, 'bool', False, None),
        ('capacity', 5, 'uint32', False, None),
        ('draining', 6, 'bool', False, None),
    ),
    'HelloRequest': (
    ),
    'HelloReply': (
        ('protocol', 1, 'uint32', False, None),
        ('pid', 2, 'uint32', False, None),
        ('python', 3, 'string', False, None),
        ('gil_enabled', 4, 'bool', False, None),
        ('profile', 5, 'string', False, None),
        ('capacity', 6, 'uint32', False, None),
        ('tools', 7, 'string', True, None),
        ('draining', 8, 'bool', False, None),
        ('server_id', 9, 'string', False, None),
    ),
}
