"""The only docker-py user: engine client, containers, labels, images, build, push, login.

Import from the submodules; each imports docker-py inside its functions, so `smctl --help` never loads it.
"""
