"""Attacks replayed against a real server: each module takes one area of the review of a running
sandbox (base URL, headers and sessions, CORS, abuse limits, secrets, connections, OAuth policy,
notification targets, extreme input, resets) and asserts the defended answer, one test per hole."""
