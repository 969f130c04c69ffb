from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("speakers", views.SpeakerViewSet, basename="speaker")
router.register("outlets", views.OutletViewSet, basename="outlet")
router.register("sources", views.SourceViewSet, basename="source")
router.register("statements", views.StatementViewSet, basename="statement")
router.register("claims", views.ClaimViewSet, basename="claim")
router.register("reviews", views.ReviewViewSet, basename="review")
router.register("topics", views.TopicViewSet, basename="topic")

urlpatterns = router.urls
