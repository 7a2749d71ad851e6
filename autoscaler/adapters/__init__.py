"""Real adapters behind the scaler's narrow interfaces: HTCondor, OpenStack (nova), EC2."""
