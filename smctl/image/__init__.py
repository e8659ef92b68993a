"""`smctl build` and `smctl push`: orchestration over engine/ and aws/."""
