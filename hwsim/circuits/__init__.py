"""Circuits: builders that express a learning algorithm as an ordinary chip network
(:class:`hwsim.network.Network`), run by the one :class:`hwsim.simulator.Simulator` and exported
like any other network. :mod:`hwsim.circuits.ottt` builds on-chip OTTT."""
from .ottt import OTTTNetwork, ottt_network, sample_steps

__all__ = ["OTTTNetwork", "ottt_network", "sample_steps"]
