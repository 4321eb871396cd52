"""One router per area of the console and the public site."""
