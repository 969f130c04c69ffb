import pytest

from tests.factories import UserFactory


@pytest.fixture
def editor(db):
    return UserFactory(username="editor", groups=["editors"])


@pytest.fixture
def publisher(db):
    return UserFactory(username="publisher", groups=["publishers"])


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True)
