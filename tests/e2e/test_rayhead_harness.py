"""The harness itself: a real head answers the Jobs API and enforces token auth."""

import httpx
import pytest

pytestmark = pytest.mark.e2e


def test_token_head_refuses_missing_and_wrong_tokens(ray_head_token) -> None:
    url = f"{ray_head_token.dashboard_url}/api/jobs/"
    assert httpx.get(url, timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert httpx.get(url, headers=wrong, timeout=10).status_code == 403
    right = {"Authorization": f"Bearer {ray_head_token.auth_token}"}
    assert httpx.get(url, headers=right, timeout=10).status_code == 200
