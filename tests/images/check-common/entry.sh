#!/bin/sh
# Dispatches SageMaker's argument; behind a shell-form ENTRYPOINT it never receives it.
case "$1" in
  train) exec train ;;
  serve) exec serve ;;
  *) echo "entry.sh: expected train or serve, got '$1'" >&2; exit 2 ;;
esac
