"""models: float PyTorch reference networks that mirror the chip (LIF family, surrogates, layers,
networks, initialization and health, encoders, data)."""
