# SPDX-License-Identifier: Apache-2.0
"""MaskFormer (sssegmentation zoo layout) in PyTorch: network, converter, export, reference."""
