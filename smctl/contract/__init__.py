"""SageMaker's container contract as data, no I/O: /opt/ml layout and config files, instance types, serving constants."""
