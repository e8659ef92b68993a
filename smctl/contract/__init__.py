"""SageMaker's container contract as data, no I/O: /opt/ml layout, config files, instance types, serving constants."""
