"""Which detectors otelflow has, and every detector name and config section upstream v0.161.0 knows."""

from __future__ import annotations

import importlib

# detector name -> (module, detector class); the config section has the detector's name
IMPLEMENTED = {
    "env": ("env", "EnvDetector"),
    "system": ("system", "SystemDetector"),
    "docker": ("docker", "DockerDetector"),
    "ec2": ("ec2", "EC2Detector"),
    "ecs": ("ecs", "ECSDetector"),
    "eks": ("eks", "EKSDetector"),
    "lambda": ("lambda_", "LambdaDetector"),
    "gcp": ("gcp", "GCPDetector"),
    "azure": ("azure", "AzureDetector"),
    "heroku": ("heroku", "HerokuDetector"),
    "aks": ("aks", "AKSDetector"),
}

# upstream's other detectors: accepted in config (their sections too), refused when listed
NOT_IMPLEMENTED = (
    "akamai", "alibaba_ecs", "azureappservice", "azurecontainerapps", "consul", "digitalocean", "dynatrace",
    "elastic_beanstalk", "hetzner", "ibmcloud_classic", "ibmcloud_vpc", "k8s_api", "k8snode", "kubeadm",
    "nova", "openshift", "oraclecloud", "scaleway", "tencent_cvm", "upcloud", "vultr",
)

# config sections of the detectors otelflow does not implement (upstream squashes them all in)
OTHER_SECTIONS = (
    "alibaba_ecs", "elasticbeanstalk", "azureappservice", "azurecontainerapps", "consul", "digitalocean",
    "hetzner", "ibmcloud_classic", "ibmcloud_vpc", "openshift", "nova", "oraclecloud", "k8s_api",
    "k8snode", "kubeadm", "akamai", "scaleway", "tencent_cvm", "upcloud", "vultr",
)

# sections whose deprecated per-detector fail_on_missing_metadata upstream warns about, in its order
DEPRECATED_FAIL_FLAG = ("ec2", "alibaba_ecs", "tencent_cvm", "upcloud", "vultr", "nova")


def detector_class(name: str):
    module, cls = IMPLEMENTED[name]
    return getattr(importlib.import_module(f"otelflow.processors.resourcedetection.{module}"), cls)
