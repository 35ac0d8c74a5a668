"""The HTML report in a real headless browser (Debian's chromium and chromium-driver,
driven by selenium): the page loads without console errors, every image has a natural
size, and the interactive map draws, shows its tooltip on hover and a latent picture on
click. `make deps` installs the browser; a missing browser fails these tests."""
import os
import shutil

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from aesweep import report

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser():
    for path in (CHROMIUM, DRIVER):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} not found: `make deps` installs chromium and chromium-driver", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def load(browser, folder):
    browser.get_log("browser")  # drop what an earlier page logged
    browser.get("file://" + os.path.join(folder, "index.html"))
    browser.execute_script("return document.readyState")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors


def check_images(browser):
    images = browser.find_elements(By.TAG_NAME, "img")
    assert images
    for img in images:
        size = browser.execute_script("return [arguments[0].complete, arguments[0].naturalWidth, "
                                      "arguments[0].naturalHeight]", img)
        assert size[0] and size[1] > 0 and size[2] > 0, (img.get_attribute("src"), size)


def test_report_in_browser(chaos, browser, tmp_path):
    folder = str(tmp_path / "report")
    assert report.main([chaos, "-o", folder]) == 0
    load(browser, folder)
    check_images(browser)
    names = {os.path.basename(i.get_attribute("src")) for i in browser.find_elements(By.TAG_NAME, "img")}
    assert {"chaos_map.png", "census.png", "latent.png", "trajectories.png"} <= names
    # above the fold: the summary paragraph comes before any figure or table
    summary = browser.find_element(By.CSS_SELECTOR, "p.summary")
    first_figure = browser.find_element(By.TAG_NAME, "figure")
    assert summary.location["y"] < first_figure.location["y"] and "runs" in summary.text
    # tables are folded
    assert all(d.get_attribute("open") is None for d in browser.find_elements(By.TAG_NAME, "details"))

    canvas = browser.find_element(By.ID, "map")
    width, height = browser.execute_script("return [arguments[0].width, arguments[0].height]", canvas)
    assert width > 0 and height > 0
    # the canvas is painted: its centre pixel is not transparent
    alpha = browser.execute_script(
        "const c = arguments[0]; return c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data[3]",
        canvas)
    assert alpha == 255
    tip = browser.find_element(By.ID, "tip")
    assert not tip.is_displayed()
    ActionChains(browser).move_to_element_with_offset(canvas, 5, -5).perform()
    assert tip.is_displayed()
    assert "outcome:" in tip.text and "splay:" in tip.text and "lr = " in tip.text
    before = browser.find_element(By.ID, "latent-title").text
    ActionChains(browser).move_to_element_with_offset(canvas, width // 3, height // 3).click().perform()
    after = browser.find_element(By.ID, "latent-title").text
    assert after and after != before
    svg = browser.find_element(By.ID, "latent")
    assert len(svg.find_elements(By.TAG_NAME, "circle")) == 7  # n = 7 feature vectors
    assert len(svg.find_elements(By.TAG_NAME, "rect")) == 7 * 8  # W^T W and b
    # the map's axes: tick labels of both axes and their names; W^T W's colour bar
    labels = [t.text for t in browser.find_element(By.ID, "map-axes").find_elements(By.TAG_NAME, "text")]
    assert "0.001" in labels and "0.1" in labels and "0" in labels and "learning rate" in labels, labels
    assert svg.find_elements(By.CSS_SELECTOR, "path[fill='url(#wtw-scale)']")
    box = browser.execute_script("const b = arguments[0].getBBox(); return [b.width, b.height]", svg)
    assert box[0] > 0 and box[1] > 0
    browser.save_screenshot(str(tmp_path / "report.png"))
    shutil.copy(tmp_path / "report.png", os.path.join(folder, "screenshot.png"))


def test_report_without_map_in_browser(tiny, browser, tmp_path):
    """A one-map grid (lr x seed) still has its map; every image renders."""
    folder = str(tmp_path / "report")
    assert report.main([tiny, "-o", folder]) == 0
    load(browser, folder)
    check_images(browser)
