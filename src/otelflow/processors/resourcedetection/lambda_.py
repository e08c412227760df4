"""The ``lambda`` detector: function attributes from the AWS Lambda runtime's environment variables;
without AWS_LAMBDA_FUNCTION_NAME it returns nothing, as upstream does."""

from __future__ import annotations

import logging
import os

from otelflow.config.model import Model
from otelflow.processors.resourcedetection.base import SCHEMA_URL, Builder, DetectError, enabled_set, toggles

DEFAULTS = {n: True for n in (
    "aws.log.group.names", "aws.log.stream.names", "cloud.platform", "cloud.provider", "cloud.region",
    "faas.instance", "faas.max_memory", "faas.name", "faas.version")}


class Config(Model):
    resource_attributes: toggles(DEFAULTS) = {}


class LambdaDetector:
    def __init__(self, config: Config, logger: logging.Logger, fail_on_missing: bool = False, **_):
        self.enabled = enabled_set(DEFAULTS, config.resource_attributes)
        self.logger = logger
        self.fail_on_missing = fail_on_missing

    async def detect(self) -> tuple[dict, str]:
        env = os.environ
        name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        if not name:
            if self.fail_on_missing:
                raise DetectError("lambda metadata unavailable: AWS_LAMBDA_FUNCTION_NAME env var not set")
            self.logger.debug("Unable to identify AWS Lambda environment")
            return {}, ""
        b = Builder(self.enabled)
        b.set("cloud.provider", "aws")
        b.set("cloud.platform", "aws_lambda")
        if "AWS_REGION" in env:
            b.set("cloud.region", env["AWS_REGION"])
        b.set("faas.name", name)
        if "AWS_LAMBDA_FUNCTION_VERSION" in env:
            b.set("faas.version", env["AWS_LAMBDA_FUNCTION_VERSION"])
        if "AWS_LAMBDA_LOG_STREAM_NAME" in env:
            b.set("faas.instance", env["AWS_LAMBDA_LOG_STREAM_NAME"])
        if "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" in env:
            b.set("faas.max_memory", env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        if "AWS_LAMBDA_LOG_GROUP_NAME" in env:
            b.set("aws.log.group.names", [env["AWS_LAMBDA_LOG_GROUP_NAME"]])
        if "AWS_LAMBDA_LOG_STREAM_NAME" in env:
            b.set("aws.log.stream.names", [env["AWS_LAMBDA_LOG_STREAM_NAME"]])
        return b.attrs, SCHEMA_URL
