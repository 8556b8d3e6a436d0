"""campusmon agent: health, inventory and a durable buffer on every PC and panel."""
