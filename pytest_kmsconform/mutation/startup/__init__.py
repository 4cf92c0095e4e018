"""Put on ``PYTHONPATH`` by the mutation runner: its ``sitecustomize`` applies the mutant."""
