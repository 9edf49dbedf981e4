"""mriunlearn: machine unlearning for MRI reconstruction (E2E-VarNet, fastMRI format).

A research compendium reproducing Xue et al., "Erase to Enhance: Data-Efficient Machine
Unlearning in MRI Reconstruction" (MIDL 2024). See README.md and docs/architecture.md.
"""

__version__ = "0.1.0"
