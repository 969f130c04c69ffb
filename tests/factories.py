import datetime

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from claims import models


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("a-long-test-password")
    is_staff = True

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.set(Group.objects.filter(name__in=extracted))


class TopicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Topic

    name = factory.Sequence(lambda n: f"Topic {n}")
    slug = factory.Sequence(lambda n: f"topic-{n}")


class SpeakerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Speaker

    name = factory.Sequence(lambda n: f"Speaker {n}")
    slug = factory.Sequence(lambda n: f"speaker-{n}")
    kind = models.Speaker.Kind.PERSON


class OrganisationFactory(SpeakerFactory):
    name = factory.Sequence(lambda n: f"Organisation {n}")
    slug = factory.Sequence(lambda n: f"organisation-{n}")
    kind = models.Speaker.Kind.GOVERNMENT


class AffiliationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Affiliation

    speaker = factory.SubFactory(SpeakerFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    role = "Spokesman"


class OutletFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Outlet

    name = factory.Sequence(lambda n: f"Outlet {n}")
    slug = factory.Sequence(lambda n: f"outlet-{n}")
    kind = models.Outlet.Kind.NEWSPAPER


class FactCheckerFactory(OutletFactory):
    kind = models.Outlet.Kind.FACT_CHECKER


class SourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Source

    title = factory.Sequence(lambda n: f"Source {n}")
    url = factory.Sequence(lambda n: f"https://example.org/articles/{n}")
    outlet = factory.SubFactory(OutletFactory)
    kind = models.Source.Kind.ARTICLE
    published_on = datetime.date(2020, 1, 9)


class StatementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Statement
        skip_postgeneration_save = True

    text = factory.Sequence(lambda n: f"Statement number {n}.")
    said_on = datetime.date(2020, 1, 8)
    status = models.Status.DRAFT

    @factory.post_generation
    def speakers(self, create, extracted, **kwargs):
        if create and extracted:
            for position, speaker in enumerate(extracted):
                models.StatementSpeaker.objects.create(statement=self, speaker=speaker, position=position)


class ClaimFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Claim

    text = factory.Sequence(lambda n: f"Claim number {n}.")
    statement = factory.SubFactory(StatementFactory)


class ReviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Review

    claim = factory.SubFactory(ClaimFactory)
    reviewer = factory.SubFactory(FactCheckerFactory)
    rating_text = "False"
    verdict = models.Verdict.FALSE
