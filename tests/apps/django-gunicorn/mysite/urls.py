from django.http import HttpResponse
from django.templatetags.static import static
from django.urls import path


def index(request):
    return HttpResponse(f"Hello from Django, styles at {static('site.css')}\n")


urlpatterns = [path("", index)]
