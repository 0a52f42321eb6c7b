; Timeout constraint, by hand: valid until 2026-01-01T00:00:00Z.
    reqc.lt now, 1767225600
    accept
