"""Keystone v3 of the simulated cloud, driven by openstacksdk and raw HTTP."""

from __future__ import annotations

import openstack.connection
import pytest
import requests
from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions

from tests.simcloud_support import connect

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_version_discovery_at_the_root_and_at_v3(simcloud):
    root = requests.get(simcloud.url + "/", timeout=5)
    assert root.status_code == 300
    assert root.json()["versions"]["values"][0]["id"].startswith("v3.")
    v3 = requests.get(simcloud.auth_url, timeout=5).json()["version"]
    assert v3["status"] == "stable" and v3["links"][0]["href"] == simcloud.auth_url + "/"


def test_password_token_has_subject_header_and_a_catalog_on_this_server(simcloud):
    auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "relval", "domain": {"name": "Default"}, "password": "relval-secret"}}},
        "scope": {"project": {"name": "relval", "domain": {"name": "Default"}}}}}
    answer = requests.post(simcloud.auth_url + "/auth/tokens", json=auth, timeout=5)
    assert answer.status_code == 201 and answer.headers["X-Subject-Token"]
    token = answer.json()["token"]
    types = {entry["type"]: entry["endpoints"] for entry in token["catalog"]}
    assert {"identity", "compute", "network", "block-storage", "volumev3", "image"} <= set(types)
    assert all(e["url"].startswith(simcloud.url) for eps in types.values() for e in eps)
    assert token["project"]["name"] == "relval" and token["user"]["name"] == "relval"


def test_wrong_password_is_401_and_calls_without_token_are_401(simcloud):
    with pytest.raises(exceptions.SDKException, match=r"HTTP 401"):
        conn = connect(simcloud, auth_type="password", auth={
            "auth_url": simcloud.auth_url, "username": "relval", "password": "wrong",
            "project_name": "relval", "user_domain_name": "Default",
            "project_domain_name": "Default"}, region_name="RegionOne")
        conn.authorize()
    bare = requests.get(simcloud.url + "/compute/v2.1/servers", timeout=5)
    assert bare.status_code == 401 and bare.json()["error"]["code"] == 401


def test_application_credential_create_authenticate_delete(simcloud):
    conn = connect(simcloud)
    user = conn.current_user_id
    created = conn.identity.create_application_credential(user, name="scaler", unrestricted=False)
    assert created.secret and created.project_id == conn.current_project_id
    assert [c.name for c in conn.identity.application_credentials(user)] == ["scaler"]
    with pytest.raises(exceptions.ConflictException):
        conn.identity.create_application_credential(user, name="scaler")

    scaler = connect(simcloud, **simcloud.server.cloud_config((created.id, created.secret)))
    assert scaler.current_project_id == conn.current_project_id
    assert list(scaler.compute.servers()) == []
    # A restricted credential may not create further credentials (keystone's rule).
    with pytest.raises(exceptions.ForbiddenException):
        scaler.identity.create_application_credential(user, name="another")

    conn.identity.delete_application_credential(user, created.id)
    with pytest.raises(exceptions.NotFoundException):
        conn.identity.get_application_credential(user, created.id)
    # Deleting revokes its tokens (the client's retry then fails to log in again).
    with pytest.raises(ks_exceptions.Unauthorized):
        list(scaler.compute.servers())
    again = connect(simcloud, **simcloud.server.cloud_config((created.id, created.secret)))
    with pytest.raises(exceptions.SDKException, match=r"HTTP 401"):
        again.authorize()


def test_clouds_yaml_and_env_both_log_in(simcloud, monkeypatch):
    from openstack import config as os_config

    region = os_config.OpenStackConfig(config_files=[str(simcloud.clouds_yaml)]).get_one("simcloud")
    assert openstack.connection.Connection(config=region).current_project_id
    for name, value in simcloud.env.items():
        monkeypatch.setenv(name, value)
    from_env = os_config.OpenStackConfig(config_files=[]).get_one("envvars")
    assert openstack.connection.Connection(config=from_env).current_user_id == \
        simcloud.server.store.settings.user_id
