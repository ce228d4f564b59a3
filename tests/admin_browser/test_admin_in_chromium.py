"""The admin in a real browser (Debian's chromium through selenium and chromium-driver):
log in, find a stalled payment, refund from the action form, read the event history,
and see no raw key or card number on any page. Screenshots land in the test's output
directory (printed on failure) and under reports/admin-browser/."""

import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from payments import services
from payments.models import Payment
from tests.factories import PaymentFactory

pytestmark = pytest.mark.integration
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CARD_NUMBER = re.compile(r"\b(?:\d[ -]?){13,19}\b")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "reports" / "admin-browser"


@pytest.fixture
def browser(tmp_path):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("chromium and chromium-driver are missing: run `make install`")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'profile'}",
    ):  # fmt: skip
        options.add_argument(flag)
    # The driver Debian ships with chromium: selenium must not go looking for one online.
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def test_an_operator_refunds_from_the_admin_and_sees_no_secret(
    live_server, browser, django_user_model, tmp_path
):
    django_user_model.objects.create_superuser("oncall", "oncall@example.com", "s3cret-pass")
    client, raw_key = services.create_api_client(name="acme")
    stalled = PaymentFactory(client=client, status="processing", description="stalled one")
    Payment.objects.filter(pk=stalled.pk).update(updated_at=timezone.now() - timedelta(hours=2))
    paid = PaymentFactory(client=client, status="succeeded", amount=5_000)
    shots: list[Path] = []

    def look(name: str) -> str:
        path = tmp_path / f"{len(shots) + 1:02d}-{name}.png"
        browser.save_screenshot(str(path))
        shots.append(path)
        page = browser.page_source
        assert raw_key not in page and raw_key[12:] not in page
        assert not CARD_NUMBER.search(browser.find_element(By.TAG_NAME, "body").text)
        return page

    browser.get(f"{live_server.url}/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys("oncall")
    browser.find_element(By.NAME, "password").send_keys("s3cret-pass")
    look("login")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    assert "Site administration" in look("home")

    browser.get(f"{live_server.url}/admin/payments/payment/?stalled_minutes=60")
    page = look("stalled-filter")
    assert str(stalled.pk) in page and str(paid.pk) not in page

    browser.get(f"{live_server.url}/admin/payments/payment/")
    browser.find_element(
        By.CSS_SELECTOR, f"input[name=_selected_action][value='{paid.pk}']"
    ).click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("refund_payments")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    assert "Refund payments" in look("refund-form")
    browser.find_element(By.NAME, "amount").send_keys("1500")
    Select(browser.find_element(By.NAME, "reason")).select_by_value("requested_by_customer")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit][value='Refund payments']").click()
    assert "of 1500 is pending" in look("refund-done")

    browser.get(f"{live_server.url}/admin/payments/payment/{paid.pk}/change/")
    history = look("event-history")
    assert "staff:oncall" in history
    # What decides the next charge's Stripe keys is shown, never an input.
    for field in ("charge_attempts", "key_generation", "description", "metadata"):
        assert not browser.find_elements(By.NAME, field)
    assert browser.find_elements(By.NAME, "customer_email")
    assert paid.refunds.get().amount == 1500

    browser.get(f"{live_server.url}/admin/payments/apikey/")
    assert client.keys.get().prefix in look("api-keys")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for shot in shots:
        shutil.copy(shot, SCREENSHOTS / shot.name)
