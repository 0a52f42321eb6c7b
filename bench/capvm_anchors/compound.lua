-- Compound constraint: a time window (2025), a subnet (10.0.0.0/8) and a battery floor (20%).
function policy()
    return now() >= 1735689600 and now() < 1767225600 and (endpoint() >> 24) == 10
        and battery() >= 20
end
