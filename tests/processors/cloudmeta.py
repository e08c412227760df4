"""A loopback stand-in for the clouds' link-local metadata services (EC2 IMDSv2, GCE, Azure IMDS)
and the ECS task metadata endpoint, answering in the shapes upstream's tests use. Detectors reach it
through OTELFLOW_LINK_LOCAL_METADATA / ECS_CONTAINER_METADATA_URI_V4, never a real address."""

from __future__ import annotations

import json

from aiohttp import web

from tests.backends import free_port

EC2_IDENTITY = {"accountId": "account1234", "architecture": "x86_64", "availabilityZone": "us-west-2a",
                "imageId": "ami-abcdef", "instanceId": "i-abcd1234", "instanceType": "c4.xlarge",
                "region": "us-west-2", "privateIp": "10.0.0.1"}
EC2_TAGS = {"tag1": "val1", "tag2": "val2", "other": "x"}
AZURE_COMPUTE = {"location": "location", "name": "name", "vmId": "vmID", "vmSize": "vmSize",
                 "subscriptionId": "subscriptionID", "resourceGroupName": "resourceGroup",
                 "vmScaleSetName": "myScaleset", "zone": "1", "osProfile": {"computerName": "computerName"},
                 "tagsList": [{"name": "tag1key", "value": "value1"}, {"name": "env", "value": "prod"}]}
GCE = {"project/project-id": "my-project", "instance/machine-type": "projects/123/machineTypes/n1-standard-1",
       "instance/id": "1472385723456792345", "instance/name": "my-gke-node-1234",
       "instance/hostname": "my-gke-node-1234.c.my-project.internal", "instance/zone": "projects/123/zones/us-central1-c",
       "instance/attributes/created-by": "projects/123/zones/us-central1-c/instanceGroupManagers/my-mig"}
ECS_TASK = {"Cluster": "my-cluster", "TaskARN": "arn:aws:ecs:us-west-2:123456789123:task/my-cluster/abcdef",
            "Family": "family", "Revision": "26", "AvailabilityZone": "us-west-2a", "LaunchType": "FARGATE",
            "Containers": [{"DockerId": "self"},
                           {"DockerId": "other", "Type": "NORMAL", "KnownStatus": "RUNNING", "LogDriver": "awslogs",
                            "LogOptions": {"awslogs-group": "group", "awslogs-region": "us-east-1",
                                           "awslogs-stream": "stream"}}]}


class MetadataServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[str] = []
        self.runner: web.AppRunner | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.path
        self.requests.append(f"{request.method} {path}")
        if path == "/latest/api/token" and request.method == "PUT":
            return web.Response(text="token-1")
        if path.startswith("/latest/"):
            if request.headers.get("X-aws-ec2-metadata-token") != "token-1":
                return web.Response(status=401)
            if path == "/latest/dynamic/instance-identity/document":
                return web.json_response(EC2_IDENTITY)
            leaf = path[len("/latest/meta-data/"):]
            values = {"instance-id": EC2_IDENTITY["instanceId"], "hostname": "ip-10-0-0-1.us-west-2.compute.internal",
                      "tags/instance": "\n".join(EC2_TAGS)}
            values.update({f"tags/instance/{k}": v for k, v in EC2_TAGS.items()})
            return web.Response(text=values[leaf]) if leaf in values else web.Response(status=404)
        if path == "/metadata/instance/compute":
            ok = request.headers.get("Metadata") == "true" and request.query.get("api-version") == "2020-09-01"
            return web.json_response(AZURE_COMPUTE) if ok else web.Response(status=400)
        if path == "/":
            return web.Response(headers={"Metadata-Flavor": "Google"})
        if path.startswith("/computeMetadata/v1/"):
            if request.headers.get("Metadata-Flavor") != "Google":
                return web.Response(status=403)
            value = GCE.get(path[len("/computeMetadata/v1/"):])
            return web.Response(text=value, headers={"Metadata-Flavor": "Google"}) if value else web.Response(status=404)
        if path == "/ecs/task":
            return web.json_response(ECS_TASK)
        if path == "/ecs":
            return web.Response(text=json.dumps({"DockerId": "self"}), content_type="application/json")
        return web.Response(status=404)

    async def start(self) -> "MetadataServer":
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()
