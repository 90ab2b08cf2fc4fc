"""The scenario page and summary show rent-by-the-token beside renting and owning GPUs."""

from django.test import Client

from planner import services
from planner.domain.costs import cheapest_token_prices

from .factories import make_scenario


def test_scenario_shows_the_per_token_api_option(world):
    scenario = make_scenario(world.a.org, halls=[world.a.hall])
    report = services.evaluate(scenario, draws=200)
    api = services.summary(report)["per_token_api"]
    price = cheapest_token_prices()["Llama-3.1-8B"]
    tokens_m = sum(report.result.demand.output_tokens) / 1e6
    w = report.inputs.workloads[0]
    by_hand = tokens_m * (w.mean_input_tokens / w.mean_output_tokens * price.usd_per_million_input)
    by_hand += tokens_m * price.usd_per_million_output
    assert abs(api["total_usd"] - by_hand) < 1e-6 * by_hand
    # The Monte Carlo draws it too: growth moves its tokens, the price spread its prices.
    assert api["total_usd_p10"] < api["total_usd_p50"] < api["total_usd_p90"]
    assert api["total_usd_p10"] < by_hand < api["total_usd_p90"]
    client = Client()
    client.force_login(world.a.users["viewer"])
    html = client.get(f"/planner/scenarios/{scenario.pk}/").content.decode()
    assert "per-token API" in html and price.provider in html and price.as_of in html


def test_a_model_no_api_prices_is_named(world):
    scenario = make_scenario(world.a.org, halls=[world.a.hall])
    scenario.workloads.update(llm_model="Gemma-2-9B")
    api = services.summary(services.evaluate(scenario, draws=200))["per_token_api"]
    assert "no per-token API price for Gemma-2-9B" in api["unavailable"]
