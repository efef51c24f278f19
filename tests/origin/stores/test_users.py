"""Dashboard users in Postgres: one address per user whatever its case, and the member's projects."""

import uuid

from origin.stores import postgres, users


async def test_a_member_sees_every_project_of_their_org_and_no_other(pool: postgres.Pool) -> None:
    org, other = f"members-{uuid.uuid4().hex[:8]}", f"members-{uuid.uuid4().hex[:8]}"
    _, alpha = await postgres.create_key(pool, project="alpha", org=org, pepper="p" * 16)
    _, beta = await postgres.create_key(pool, project="beta", org=org, pepper="p" * 16)
    _, theirs = await postgres.create_key(pool, project="alpha", org=other, pepper="p" * 16)
    address = f"m-{uuid.uuid4().hex[:8]}@example.com"
    user_id = await users.create_user(pool, org=org, email=address, password_hash="x")
    assert user_id is not None
    assert await users.create_user(pool, org=other, email=address.upper(), password_hash="y") is None

    member = await users.member(pool, user_id, alpha.org_id)
    assert member is not None and (member.email, member.org_name) == (address, org)
    assert [(p.project_id, p.name) for p in member.projects] == [
        (alpha.project_id, "alpha"),
        (beta.project_id, "beta"),
    ]
    assert member.scope == {alpha.project_id, beta.project_id} and theirs.project_id not in member.scope
    assert await users.member(pool, user_id, theirs.org_id) is None

    assert await users.remove_user(pool, address.title())
    assert await users.member(pool, user_id, alpha.org_id) is None


async def test_a_member_of_an_org_without_projects_sees_nothing(pool: postgres.Pool) -> None:
    address = f"m-{uuid.uuid4().hex[:8]}@example.com"
    user_id = await users.create_user(
        pool, org=f"empty-{uuid.uuid4().hex[:8]}", email=address, password_hash="x"
    )
    assert user_id is not None
    credentials = await users.find_credentials(pool, address)
    assert credentials is not None
    member = await users.member(pool, user_id, credentials.org_id)
    assert member is not None and member.projects == () and member.scope == frozenset()
