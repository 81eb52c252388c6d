"""Bootstrap intervals and paired randomization tests over queries."""

import pytest

from followir.metrics.uncertainty import bootstrap_interval, paired_randomization_test


def test_constant_values_have_a_zero_width_interval():
    ci = bootstrap_interval({"a": 0.3, "b": 0.3, "c": 0.3})
    assert (ci.mean, ci.low, ci.high) == pytest.approx((0.3, 0.3, 0.3))


def test_interval_brackets_the_mean_and_is_reproducible():
    values = {str(i): (i % 7) / 7 for i in range(40)}
    a, b = bootstrap_interval(values), bootstrap_interval(values)
    assert a == b
    assert a.low < a.mean < a.high
    # the standard error of the mean here is about 0.047; a 95% interval spans about 4 of them
    assert 0.1 < a.high - a.low < 0.25


def test_identical_systems_are_not_different():
    a = {str(i): i / 10 for i in range(10)}
    test = paired_randomization_test(a, dict(a))
    assert test.difference == 0.0 and test.p_value == 1.0


def test_consistent_improvement_is_significant():
    a = {str(i): 0.5 + 0.1 for i in range(20)}
    b = {str(i): 0.5 + (i % 3) * 0.01 for i in range(20)}
    test = paired_randomization_test(a, b, resamples=5000)
    assert test.difference > 0
    assert test.p_value < 0.001  # all 20 differences positive: 2 / 2**20 exact p


def test_noise_is_not_significant():
    a = {str(i): 0.5 + (0.05 if i % 2 else -0.05) for i in range(20)}
    b = {str(i): 0.5 for i in range(20)}
    assert paired_randomization_test(a, b).p_value > 0.5


def test_no_shared_query_is_an_error():
    with pytest.raises(ValueError, match="share no query"):
        paired_randomization_test({"a": 1.0}, {"b": 1.0})
