"""The asset register: campus → building → room → device, automatic inventory, history, import/export."""
