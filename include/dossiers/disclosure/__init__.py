"""External disclosure (Art. 16): requests, approval, desensitised packages, the register."""
