"""The ``heroku`` detector: dyno and release attributes from the variables Heroku's dyno-metadata
feature sets; with neither HEROKU_DYNO_ID nor HEROKU_APP_ID it returns nothing, as upstream does."""

from __future__ import annotations

import logging
import os

from otelflow.config.model import Model
from otelflow.processors.resourcedetection.base import SCHEMA_URL, Builder, DetectError, enabled_set, toggles

DEFAULTS = {n: True for n in (
    "cloud.provider", "heroku.app.id", "heroku.dyno.id", "heroku.release.commit",
    "heroku.release.creation_timestamp", "service.instance.id", "service.name", "service.version")}


class Config(Model):
    resource_attributes: toggles(DEFAULTS) = {}


class HerokuDetector:
    def __init__(self, config: Config, logger: logging.Logger, fail_on_missing: bool = False, **_):
        self.enabled = enabled_set(DEFAULTS, config.resource_attributes)
        self.logger = logger
        self.fail_on_missing = fail_on_missing

    async def detect(self) -> tuple[dict, str]:
        env = os.environ
        b = Builder(self.enabled)
        # upstream's order of setting, which is the order the attributes come out in
        if "HEROKU_DYNO_ID" in env:
            b.set("service.instance.id", env["HEROKU_DYNO_ID"])
        if "HEROKU_APP_ID" in env:
            b.set("heroku.app.id", env["HEROKU_APP_ID"])
        if "HEROKU_DYNO_ID" not in env and "HEROKU_APP_ID" not in env:
            if self.fail_on_missing:
                raise DetectError("heroku metadata unavailable: HEROKU_DYNO_ID and HEROKU_APP_ID env vars not set")
            self.logger.debug("Heroku metadata is missing. Please check metadata is enabled.")
        if "HEROKU_APP_ID" in env:
            b.set("cloud.provider", "heroku")
        for var, attr in (("HEROKU_APP_NAME", "service.name"), ("HEROKU_RELEASE_CREATED_AT", "heroku.release.creation_timestamp"),
                          ("HEROKU_RELEASE_VERSION", "service.version"), ("HEROKU_SLUG_COMMIT", "heroku.release.commit")):
            if var in env:
                b.set(attr, env[var])
        return b.attrs, SCHEMA_URL
