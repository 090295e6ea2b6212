"""Booting and testing a built cell: executors (virtme-ng here, a lab next), the guest script's
contract, the console's signs of a crash or a hang, the accelerator, and the TAP parser."""
