from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("sites", views.SiteViewSet)
router.register("halls", views.HallViewSet)
router.register("racks", views.RackViewSet)
router.register("nodes", views.NodeViewSet)
router.register("gpus", views.GpuViewSet)
router.register("gpu-models", views.GpuModelViewSet)
router.register("cooling-units", views.CoolingUnitViewSet)
router.register("pdus", views.PduViewSet)

urlpatterns = router.urls
