"""Fixed constants of the Loihi arithmetic as Lava's bit-accurate models implement it.

Everything a study may vary lives in :class:`hwsim.spec.ChipSpec`; what is here is the
arithmetic itself (shifts and offsets baked into the neuron update), with the Lava file each
value comes from (lava-nc 0.10.0).
"""

# --- LIF compartment (lava/proc/lif/models.py: AbstractPyLifModelFixed) ---
DECAY_SHIFT = 12          # decays are 12-bit fractions of 4096
DECAY_UNITY = 1 << DECAY_SHIFT
DU_OFFSET = 1             # u decays by (4096 - (du + 1)) / 4096: du=-1 means no decay
DV_OFFSET = 0             # v decays by (4096 - dv) / 4096
ACT_SHIFT = 6             # synaptic input a is scaled by 2**6 before entering u
VTH_SHIFT = 6             # threshold mantissa is scaled by 2**6
BIAS_EXP_SHIFT_IS_SIGNED = True  # bias_exp >= 0 shifts left, < 0 shifts right (Lava)

# --- Dense / Sparse synapse (lava/utils/weightutils.py) ---
WEIGHT_CLIP_BITS = 8      # weights are clipped to 8 magnitude bits (+ sign in MIXED mode)

# --- Conv synapse (lava/proc/conv/models.py: signed_clamp(conv(s, W), 24)) ---
CONV_ACC_BITS = 24        # conv output wraps to 24-bit two's complement

# --- Learning engine (lava/magma/core/learning/constants.py) ---
W_TRACE = 7               # trace magnitude bits (0..127)
W_TRACE_FRAC = 8          # impulse fraction bits
W_WEIGHTS_U = 8           # weight magnitude bits
W_WEIGHTS_S = W_WEIGHTS_U + 1
W_TAG_U = 8
W_TAG_S = W_TAG_U + 1
W_ACCUMULATOR_U = 15      # learning accumulator magnitude bits
W_ACCUMULATOR_S = W_ACCUMULATOR_U + 1
W_S_MANT = 4              # scale mantissa bits in a product (m in [-8, 7])
W_CONST = 8               # constants in (var + const) factors
