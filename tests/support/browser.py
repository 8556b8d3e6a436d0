"""Debian's headless Chromium driven by selenium (no browser download), for the console's acceptance."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def chromium(
    width: int = 1280, height: int = 900, downloads: Path | None = None, lang: str = "zh-CN"
) -> WebDriver:
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--lang={lang}",
    ):
        opts.add_argument(arg)
    opts.add_argument(f"--window-size={width},{height}")
    if downloads is not None:
        opts.add_experimental_option(
            "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
        )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    if width < 600:  # a phone: the layout viewport is what the page sees
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True},
        )
    return driver


def wait(driver: WebDriver, pred: Callable[[WebDriver], object], timeout: float = 20.0) -> object:
    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(pred)


def login(driver: WebDriver, base: str, username: str, password: str) -> None:
    driver.get(f"{base}/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login").click()
    wait(driver, lambda d: "/login" not in d.current_url)


def text_of(driver: WebDriver, element_id: str) -> str:
    """The element's text, read in one script call ('' while it is not there): no stale elements."""
    value = driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.innerText : '';", element_id
    )
    return str(value or "")


def wait_text(driver: WebDriver, element_id: str, *needles: str, timeout: float = 20.0) -> str:
    """Wait until the element shows every needle (after a click that loads a new page)."""
    wait(driver, lambda d: all(n in text_of(d, element_id) for n in needles), timeout)
    return text_of(driver, element_id)
