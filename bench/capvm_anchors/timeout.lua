-- Timeout constraint: valid until 2026-01-01T00:00:00Z.
function policy()
    return now() < 1767225600
end
