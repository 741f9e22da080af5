"""What people write by hand, for authgate to be measured against."""
