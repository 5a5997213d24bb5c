"""The Python side of the MCP real-client suite, driven step by step by tests/mcp/python.test.mjs.

Each step is one subcommand; it prints one JSON object on stdout and exits non-zero when an
assertion fails. The official `mcp` package speaks to authlink over Streamable HTTP, and
Composio's `composio` SDK runs the `session.tools()` journey against authlink's REST routes.

    clients.py mcp-management BASE KEY SESSION_ID TOOLKIT SEED_PATH
    clients.py mcp-manage MCP_URL KEY TOOLKIT
    clients.py mcp-wait MCP_URL KEY TOOLKIT
    clients.py sdk-manage BASE KEY SESSION_ID TOOLKIT
    clients.py sdk-wait BASE KEY SESSION_ID TOOLKIT
"""

import asyncio
import json
import os
import sys

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

MANAGEMENT_TOOLS = [
    "tool_router.session.link.create",
    "tool_router.session.create",
    "tool_router.session.get",
    "tool_router.session.delete",
    "connected_accounts.get",
    "connected_accounts.list",
    "connected_accounts.delete",
    "auth_configs.list",
    "toolkits.list",
]


def check(condition, what):
    if not condition:
        raise AssertionError(what)


async def with_session(url, key, steps):
    headers = {"x-api-key": key}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                check(init.server_info.name == "authlink", f"server name {init.server_info.name}")
                check(init.protocol_version == "2025-11-25", f"negotiated {init.protocol_version}")
                check(init.capabilities.tools is not None, "tools capability")
                return await steps(session)


def structured(result, what):
    check(not result.is_error, f"{what}: tool error {result}")
    check(result.structured_content is not None, f"{what}: no structuredContent")
    text = result.content[0].text
    check(json.loads(text) == result.structured_content, f"{what}: text differs from structuredContent")
    return result.structured_content


async def mcp_management(base, key, session_id, toolkit, seed_path):
    with open(seed_path, encoding="utf-8") as f:
        seed = json.load(f)

    async def steps(session):
        tools = (await session.list_tools()).tools
        check([t.name for t in tools] == MANAGEMENT_TOOLS, f"tools {[t.name for t in tools]}")
        link_tool = tools[0]
        check(link_tool.input_schema == seed, "the link tool's input schema is not the seed's")
        check(list(link_tool.input_schema["properties"]) == list(seed["properties"]), "property order")
        for t in tools:
            check(t.description and t.output_schema and t.output_schema["type"] == "object", t.name)
        # An invalid call: a tool error carrying the envelope, as the REST endpoint answers.
        bad = await session.call_tool(
            "tool_router.session.link.create",
            {"session_id": session_id, "toolkit": toolkit, "experimental": {"acl_config_for_shared": {"allow_all_users": True}}},
        )
        check(bad.is_error, f"ACL on PRIVATE accepted: {bad}")
        error = json.loads(bad.content[0].text)["error"]
        check(error["slug"] == "ConnectedAccount_AclOnlyForShared", error)
        check("acl_config_for_shared is only valid on SHARED" in error["message"], error)
        # The output schemas validate (the client checks structuredContent against them).
        got = structured(await session.call_tool("tool_router.session.get", {"session_id": session_id}), "session.get")
        check(got["session_id"] == session_id, got)
        link = structured(
            await session.call_tool("tool_router.session.link.create", {"session_id": session_id, "toolkit": toolkit}),
            "link.create",
        )
        check(link["link_token"].startswith("ln_"), link)
        listed = structured(await session.call_tool("connected_accounts.list", {"statuses": ["INITIATED"]}), "list")
        check(any(i["id"] == link["connected_account_id"] for i in listed["items"]), listed)
        structured(await session.call_tool("auth_configs.list", {}), "auth_configs.list")
        structured(await session.call_tool("toolkits.list", {}), "toolkits.list")
        return link

    return await with_session(f"{base}/mcp", key, steps)


async def mcp_manage(mcp_url, key, toolkit):
    async def steps(session):
        tools = (await session.list_tools()).tools
        names = [t.name for t in tools]
        check(names == ["COMPOSIO_MANAGE_CONNECTIONS", "COMPOSIO_WAIT_FOR_CONNECTIONS"], names)
        out = structured(await session.call_tool("COMPOSIO_MANAGE_CONNECTIONS", {"toolkits": [toolkit]}), "manage")
        result = out["data"]["results"][toolkit]
        check(result["status"] == "INITIATED", out)
        return result

    return await with_session(mcp_url, key, steps)


async def mcp_wait(mcp_url, key, toolkit):
    async def steps(session):
        out = structured(
            await session.call_tool("COMPOSIO_WAIT_FOR_CONNECTIONS", {"toolkits": [toolkit], "timeout_seconds": 20}),
            "wait",
        )
        check(out["data"]["completed"] is True, out)
        result = out["data"]["results"][toolkit]
        check(result["status"] == "ACTIVE", out)
        again = structured(await session.call_tool("COMPOSIO_MANAGE_CONNECTIONS", {"toolkits": [toolkit]}), "manage")
        check(again["data"]["results"][toolkit]["status"] == "ACTIVE", again)
        check("redirect_url" not in again["data"]["results"][toolkit], again)
        return result

    return await with_session(mcp_url, key, steps)


def composio_session(base, key, session_id):
    from composio import Composio

    composio = Composio(api_key=key, base_url=base, allow_tracking=False)
    return composio.use(session_id)


def sdk_manage(base, key, session_id, toolkit):
    session = composio_session(base, key, session_id)
    tools = session.tools()
    names = sorted(t["function"]["name"] for t in tools)
    check(names == ["COMPOSIO_MANAGE_CONNECTIONS", "COMPOSIO_WAIT_FOR_CONNECTIONS"], names)
    manage = next(t for t in tools if t["function"]["name"] == "COMPOSIO_MANAGE_CONNECTIONS")
    check(manage["function"]["parameters"]["required"] == ["toolkits"], manage)
    # What an agent loop does with the model's tool call.
    response = session.execute("COMPOSIO_MANAGE_CONNECTIONS", arguments={"toolkits": [toolkit]})
    check(response.result_type == "completed", response)
    result = response.data["results"][toolkit]
    check(result["status"] == "INITIATED", response.data)
    return result


def sdk_wait(base, key, session_id, toolkit):
    session = composio_session(base, key, session_id)
    response = session.execute(
        "COMPOSIO_WAIT_FOR_CONNECTIONS", arguments={"toolkits": [toolkit], "timeout_seconds": 20}
    )
    check(response.result_type == "completed", response)
    result = response.data["results"][toolkit]
    check(result["status"] == "ACTIVE", response.data)
    return result


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "mcp-management":
        out = asyncio.run(mcp_management(*args))
    elif command == "mcp-manage":
        out = asyncio.run(mcp_manage(*args))
    elif command == "mcp-wait":
        out = asyncio.run(mcp_wait(*args))
    elif command == "sdk-manage":
        out = sdk_manage(*args)
    elif command == "sdk-wait":
        out = sdk_wait(*args)
    else:
        raise SystemExit(f"unknown command {command}")
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    os.environ.setdefault("COMPOSIO_DISABLE_TELEMETRY", "true")
    main(sys.argv)
