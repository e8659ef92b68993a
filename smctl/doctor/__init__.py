"""`smctl doctor` and `smctl check IMAGE`: probes gather facts, pure judges turn them into results with remedies."""
