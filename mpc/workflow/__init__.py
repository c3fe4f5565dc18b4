"""What the commands do, as library functions: build, diff and report, publish, dev, scaffold."""
